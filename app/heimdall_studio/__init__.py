"""Heimdall Studio: synthetic datasets for RF transmitter localization."""

__version__ = "0.2.0"
