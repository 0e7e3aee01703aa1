"""Staff: accounts for organizers, lawyers and admins, login sessions and role checks."""
