"""Heimdall Studio: synthetic datasets for RF transmitter localization."""

__version__ = "0.1.0"
