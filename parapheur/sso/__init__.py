"""Single sign-on: OpenID Connect login with each organisation's identity provider."""
