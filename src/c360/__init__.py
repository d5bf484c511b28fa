"""c360: a Customer 360 platform on one machine, from source systems to served profiles."""

__version__ = "0.1.0"
