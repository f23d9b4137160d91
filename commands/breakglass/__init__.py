"""Break-glass: pass a gate in an incident, with a second person's confirmation, announced and recorded."""
