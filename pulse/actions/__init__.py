"""Actions: what a team agreed to do after a pulse ("you said, we did")."""
