"""Users, roles, desks (bureaux) and their members, delegations, login."""
