"""A sandbox breach: local stand-ins for every system a playbook touches, seeded, on 127.0.0.1.

`breach sandbox up --dir DIR` starts them as processes of their own (they outlive the command)
and records their process ids in DIR/sandbox.json; `breach sandbox down --dir DIR` stops exactly
those. services.py starts and stops processes, seed.py writes the breach into them, mailsink.py
is the SMTP sink that keeps every message as an .eml file.
"""
