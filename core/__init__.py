"""core: what every breachkit package shares, and nothing else.

The error root (`errors`), UTC time (`timeutil`), atomic file writes and safe paths (`fsio`),
secret redaction (`redact`), who is acting (`operator`), artifact sidecars (`artifacts`), the
records passed between packages (`records`), and the one AWS account object (`aws`). It imports
no other breachkit package; every other package may import it.
"""
