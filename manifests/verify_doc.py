"""VERIFY.md: how to verify a bundle with sha256sum, openssl, jq/base64 and age alone."""

from __future__ import annotations

ED25519_CHECK = "openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in /tmp/pae.bin -sigfile /tmp/statement.sig"
ECDSA_CHECK = (
    "openssl dgst -sha256 -verify signer.pub.pem -signature /tmp/statement.sig /tmp/pae.bin"
)


def render(bundle_id: str, incident_id: str, signer_keyid: str, algorithm: str) -> str:
    check = ED25519_CHECK if algorithm == "ed25519" else ECDSA_CHECK
    return f"""# Verifying evidence bundle {bundle_id}

Incident: {incident_id}. Signer key id (sha256 of the public key's DER): `{signer_keyid}`.
Signature: {algorithm} over the DSSE pre-authentication encoding (PAE) of an in-toto Statement v1.

Everything below uses stock tools only: `sha256sum`, `openssl` (3.x), `jq`, `base64` and `age`.
Run the commands from inside this folder. Each one prints OK / "Signature Verified Successfully"
or exits non-zero.

## 1. Nothing was added, removed or changed

```sh
sha256sum -c manifest-sha256.txt          # every encrypted artifact under data/
sha256sum -c tagmanifest-sha256.txt       # bagit.txt, bag-info.txt, the manifest, statement, key, this file
find data -type f | sort > /tmp/on-disk.txt
cut -c67- manifest-sha256.txt | sort | diff - /tmp/on-disk.txt && echo "no extra or missing payload"
```

## 2. The signer is who you expect

Compare this with the key id you were given out of band (for example in the case record):

```sh
openssl pkey -pubin -in signer.pub.pem -outform DER | sha256sum
jq -r '.signatures[0].keyid' statement.dsse.json
```

## 3. The signature over the statement is valid

```sh
jq -r .payload statement.dsse.json | base64 -d > /tmp/statement.json
jq -r '.signatures[0].sig' statement.dsse.json | base64 -d > /tmp/statement.sig
TYPE=$(jq -r .payloadType statement.dsse.json)
printf 'DSSEv1 %d %s %d ' "${{#TYPE}}" "$TYPE" "$(wc -c < /tmp/statement.json)" > /tmp/pae.bin
cat /tmp/statement.json >> /tmp/pae.bin
{check}
```

## 4. The signed statement names exactly these files

```sh
jq -r '.subject[] | "\\(.digest.sha256)  \\(.name)"' /tmp/statement.json | sort > /tmp/subjects.txt
sort manifest-sha256.txt | diff - /tmp/subjects.txt && echo "statement matches manifest"
jq '.predicate.bundle' /tmp/statement.json            # incident, created-at, previous bundle
jq '.predicate.artifacts[] | {{name, plaintext, source}}' /tmp/statement.json
```

## 5. Decrypt and check each artifact

With the age identity (private key) of one of the recipients named in the statement:

```sh
age -d -i legal.key -o /tmp/artifact data/<artifact>.age
sha256sum /tmp/artifact     # equals .predicate.artifacts[].plaintext.sha256 for that artifact
```

## 6. Chain of custody

`custody.jsonl` holds one JSON entry per event after sealing (sealed, accessed, decrypted,
transferred, ...). Each names the sha256 of the line before it (`prev`) and is signed by the key in
its `signature.public_key`. To check a link by hand: `sed -n 1p custody.jsonl | tr -d '\\n' | sha256sum`
equals the `prev` of line 2. `breach verify` checks all of it and names any entry that fails.
"""
