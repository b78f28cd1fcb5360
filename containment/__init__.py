"""containment: adapters that act (sessions, accounts, keys, network blocks).

Every action is planned, applied, verified by reading back, and returns a receipt.
"""
