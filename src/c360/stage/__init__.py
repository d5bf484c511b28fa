"""Stage: raw rows typed, normalized and validated against each source's contract.

Every raw row ends in exactly one of ``stage.<source>`` (it keeps the contract) or
``quarantine.<source>`` (it breaks it, with the rule, the value and its raw location).
"""
