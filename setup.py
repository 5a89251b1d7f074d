"""Packaging: the top-level templates/ and workflows/ ship inside the package (see setup.cfg).

They stay at the top of the repository (the design card); in a wheel they become
`parapheur/templates/` and `parapheur/workflows/`, found by parapheur.resources.
"""

from setuptools import find_namespace_packages, setup

SHIPPED = {"parapheur.templates": "templates", "parapheur.workflows": "workflows"}

setup(
    packages=[*find_namespace_packages(include=["parapheur", "parapheur.*", "signing",
                                                "signing.*"]), *SHIPPED],
    package_dir=SHIPPED,
    package_data={"parapheur.templates": ["**/*.html", "**/*.txt", "**/*.css"],
                  "parapheur.workflows": ["*.yaml", "*.json"]},
)
