"""notify: severity and escalation matrix, regulatory deadlines, notice templates, channels."""
