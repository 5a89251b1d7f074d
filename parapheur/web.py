"""Web wiring: login, CSRF, security headers, error pages, blueprints and template helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask, redirect, render_template, request, url_for
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from parapheur.errors import ParapheurError

PARIS = ZoneInfo("Europe/Paris")
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "Connectez-vous pour accéder à cette page."
login_manager.login_message_category = "info"


@login_manager.user_loader
def _load_user(user_id: str):
    from parapheur.accounts.models import User
    from parapheur.db import get_session

    try:
        user = get_session().get(User, int(user_id))
    except ValueError:
        return None
    return user if user is not None and user.active else None


def format_datetime(value: datetime | None, with_seconds: bool = False) -> str:
    """A UTC datetime as Paris local time, French style."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S" if with_seconds else "%d/%m/%Y %H:%M")


def _error_page(status: int, title: str, message: str):
    if request.accept_mimetypes.best == "application/json":
        return {"error": message, "status": status}, status
    return render_template("pages/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    """Register extensions, blueprints, error handlers and template helpers."""
    csrf.init_app(app)
    login_manager.init_app(app)
    app.jinja_env.filters["datetime_fr"] = format_datetime
    app.jinja_env.globals["organisation_name"] = lambda: app.config.get(
        "ORGANISATION_NAME", "Parapheur")

    from parapheur.accounts.admin_views import bp as admin_bp
    from parapheur.accounts.delegation_views import bp as delegations_bp
    from parapheur.accounts.views import bp as accounts_bp
    from parapheur.documents.views import bp as documents_bp
    from parapheur.signatures.agent_views import bp as agent_bp
    from parapheur.signatures.views import bp as signatures_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(delegations_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(documents_bp)
    app.register_blueprint(signatures_bp)
    app.register_blueprint(agent_bp)

    @app.route("/favicon.ico")
    def _favicon():
        return redirect(url_for("static", filename="favicon.svg"), code=301)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            # The officials' local signing agent (parapheur-agent) answers on loopback.
            f"connect-src 'self' {app.config.get('AGENT_URL') or ''}; "
            "object-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.errorhandler(ParapheurError)
    def _domain_error(exc: ParapheurError):
        return _error_page(exc.status, "Action impossible", exc.message)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        return _error_page(400, "Formulaire expiré",
                           "Le formulaire a expiré ou ne provient pas de cette application "
                           "(jeton CSRF absent ou invalide). Rechargez la page et recommencez.")

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc):
        limit = app.config["MAX_UPLOAD_MB"]
        return _error_page(413, "Fichier trop volumineux",
                           f"Le fichier dépasse la taille maximale autorisée ({limit} Mo).")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        titles = {403: "Accès refusé", 404: "Page introuvable", 405: "Méthode non autorisée"}
        messages = {403: "Vous n'avez pas le droit d'accéder à cette page.",
                    404: "La page ou le document demandé n'existe pas.",
                    405: "Cette action n'est pas permise ici."}
        status = exc.code or 500
        return _error_page(status, titles.get(status, "Erreur"),
                           messages.get(status, exc.description or "Requête invalide."))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("Unexpected error on %s %s", request.method, request.path)
        return _error_page(500, "Erreur interne",
                           "Une erreur inattendue est survenue ; rien n'a été modifié. "
                           "L'incident est journalisé.")
