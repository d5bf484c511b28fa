"""Real-time clickstream: parse and validate events, window them by event time, detect bots and floods.

``events`` turns REES46-format CSV into validated Arrow batches; ``windows`` holds the vectorized
window arithmetic; ``detectors`` the rules; ``processor`` the event-time loop (watermark, lateness,
cooldown); ``replay`` feeds recorded files through it; ``evaluate`` scores alerts against the
simulator's ground truth.
"""
