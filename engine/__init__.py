"""sipflow: a SIP user agent and session engine whose call flows are YAML state tables."""

__version__ = "0.1.0"
