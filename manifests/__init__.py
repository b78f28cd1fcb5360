"""manifests: the evidence bundle format.

Hashing, age encryption, DSSE signing, the BagIt layout, the custody log and verification.
It imports no other breachkit package and needs no network (but for the optional KMS signer),
so legal's verifier stays small.
"""

from core.errors import BadInput, BreachError, StepFailed

__all__ = ["BadInput", "BreachError", "StepFailed"]
