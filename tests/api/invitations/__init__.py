"""Memberships by invitation only, through HTTP: an owner or admin invites an address, the person it
is addressed to accepts (or declines) while signed in with it. Nobody is added without consent, and
no answer tells the inviter whether an account uses the address. Members leave on their own."""
