"""Web wiring: login, CSRF, security headers, error pages, blueprints and template helpers."""

from __future__ import annotations

from flask import Flask, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from parapheur import i18n
from parapheur.errors import N_, ParapheurError, localized
from parapheur.fields import MAX_ID, FieldError

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "Connectez-vous pour accéder à cette page."
login_manager.login_message_category = "info"




def _init_login(app: Flask) -> None:
    from parapheur.accounts import sessions

    login_manager.init_app(app)
    login_manager.user_loader(sessions.load_user)
    sessions.init_app(app)


def _init_rate_limits(app: Flask) -> None:
    """Throttle login attempts per source address (Redis when configured, else in memory)."""
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "parapheur")
    limiter = Limiter(get_remote_address, app=app)
    app.extensions["parapheur.limiter"] = limiter
    app.view_functions["accounts.login"] = limiter.limit(
        lambda: app.config["LOGIN_RATE_LIMIT"], methods=["POST"],
        error_message="Trop de tentatives de connexion depuis cette adresse : patientez avant "
                      "de réessayer.")(app.view_functions["accounts.login"])


class _DatabaseId(IntegerConverter):
    """`<int:…>` in routes: at most MAX_ID, the largest key the databases store."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def _refuse_nul_characters() -> None:
    """No form or query value may hold a NUL character (PostgreSQL cannot store it)."""
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                field = name.replace("\x00", "")[:40]
                raise FieldError(field, f"Le champ « {field} » contient un caractère interdit "
                                        f"(caractère nul).")


def _organisation_name() -> str:
    """The logged-in user's collectivité; before login, the instance's configured name."""
    from flask import current_app
    from flask_login import current_user

    if current_user and current_user.is_authenticated:
        return current_user.organisation.name
    return current_app.config.get("ORGANISATION_NAME") or "Parapheur"


#: Seconds a client is asked to wait when every database connection is taken.
POOL_RETRY_AFTER = 5
POOL_EXHAUSTED = N_("Le service est momentanément saturé : toutes les connexions à la base de "
                     "données sont occupées et la page n'a pas pu être servie. Réessayez dans "
                     "quelques secondes.")


def _error_page(status: int, title: str, message: str):
    if request.accept_mimetypes.best == "application/json":
        return {"error": message, "status": status}, status
    return render_template("pages/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    """Register extensions, blueprints, error handlers and template helpers."""
    # Ids in URLs fit the databases' integer keys: a larger one is a plain 404, not an overflow.
    app.url_map.converters["int"] = _DatabaseId
    app.before_request(_refuse_nul_characters)
    csrf.init_app(app)
    _init_login(app)
    i18n.init_app(app)
    app.jinja_env.globals["organisation_name"] = _organisation_name
    from parapheur.accounts.sessions import ends_at as session_ends_at

    app.jinja_env.globals["session_ends_at"] = session_ends_at

    from parapheur.accounting.views import bp as accounting_bp
    from parapheur.accounts.admin_views import bp as admin_bp
    from parapheur.accounts.delegation_views import bp as delegations_bp
    from parapheur.accounts.views import bp as accounts_bp
    from parapheur.admin.circuit_views import bp as admin_circuits_bp
    from parapheur.admin.journal_views import bp as admin_journal_bp
    from parapheur.documents.reading_views import bp as reading_bp
    from parapheur.documents.views import bp as documents_bp
    from parapheur.invoices.views import bp as invoices_bp
    from parapheur.notifications.views import bp as account_bp
    from parapheur.signatures.agent_views import admin_bp as signing_admin_bp
    from parapheur.signatures.agent_views import bp as agent_bp
    from parapheur.signatures.views import bp as signatures_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(delegations_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(admin_circuits_bp)
    app.register_blueprint(admin_journal_bp)
    app.register_blueprint(documents_bp)
    app.register_blueprint(reading_bp)
    app.register_blueprint(signatures_bp)
    app.register_blueprint(account_bp)
    _init_rate_limits(app)
    app.register_blueprint(invoices_bp)
    app.register_blueprint(agent_bp)
    app.register_blueprint(signing_admin_bp)
    from parapheur import api
    from parapheur.api.token_views import bp as tokens_bp
    from parapheur.webhooks.views import bp as webhooks_bp

    api.init_app(app, csrf=csrf, limiter=app.extensions["parapheur.limiter"])
    app.register_blueprint(tokens_bp)
    app.register_blueprint(webhooks_bp)

    from parapheur import health
    from parapheur.organisations import views as organisation_views
    from parapheur.sso import views as sso_views

    app.register_blueprint(health.bp)
    organisation_views.init_app(app)
    sso_views.init_app(app)
    app.register_blueprint(accounting_bp)

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
        # The service's sentence in the reader's language, its parameters filled in.
        response = make_response(_error_page(exc.status, gettext("Action impossible"),
                                             localized(exc)))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(PoolTimeout)
    def _pool_exhausted(exc: PoolTimeout):
        # Every connection is taken: say so and when to come back, without touching the
        # database again (the usual error page reads the user's organisation).
        app.logger.warning("Connection pool exhausted on %s %s", request.method, request.path)
        if request.accept_mimetypes.best == "application/json":
            response = make_response({"error": POOL_EXHAUSTED, "status": 503}, 503)
        else:
            # Not render_template: its context processors would load the user from the database;
            # nor the user's locale, for the same reason.
            with force_locale(i18n.visitor_locale()):
                page = app.jinja_env.get_template("pages/unavailable.html").render(
                    message=gettext(POOL_EXHAUSTED), url_for=url_for, request=request)
            response = make_response(page, 503)
        response.headers["Retry-After"] = str(POOL_RETRY_AFTER)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        return _error_page(400, gettext("Formulaire expiré"),
                           gettext("Le formulaire a expiré ou ne provient pas de cette "
                                   "application (jeton CSRF absent ou invalide). Rechargez la "
                                   "page et recommencez."))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc):
        limit = app.config["MAX_UPLOAD_MB"]
        return _error_page(413, gettext("Fichier trop volumineux"),
                           gettext("Le fichier dépasse la taille maximale autorisée "
                                   "(%(limit)s Mo).", limit=limit))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/api/"):  # no API route matched: still a problem+json
            from parapheur.api.blueprint import http_problem

            return http_problem(exc)
        titles = {403: gettext("Accès refusé"), 404: gettext("Page introuvable"),
                  405: gettext("Méthode non autorisée"), 429: gettext("Trop de tentatives")}
        messages = {403: gettext("Vous n'avez pas le droit d'accéder à cette page."),
                    404: gettext("La page ou le document demandé n'existe pas."),
                    405: gettext("Cette action n'est pas permise ici."),
                    429: gettext("Trop de requêtes : patientez avant de réessayer.")}
        status = exc.code or 500
        return _error_page(status, titles.get(status, gettext("Erreur")),
                           messages.get(status, exc.description or gettext("Requête invalide.")))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("Unexpected error on %s %s", request.method, request.path)
        return _error_page(500, gettext("Erreur interne"),
                           gettext("Une erreur inattendue est survenue ; rien n'a été modifié. "
                                   "L'incident est journalisé."))
