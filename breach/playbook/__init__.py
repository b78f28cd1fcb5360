"""Playbooks: the procedure for one kind of incident, as a checked YAML document.

`breach.playbook.model.load(path)` reads and checks one (breach/playbook/model.py);
`breach.playbook.kinds.KINDS` are the steps it may use, each a procedure-layer step.
"""
