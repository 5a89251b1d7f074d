"""The demo collectivité: users for each role, a demo PKI, documents waiting in their circuits."""
