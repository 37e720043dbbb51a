"""Extension singletons bound to the app in create_app (database ones live in survey/db.py)."""
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mailman import Mail
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
mail = Mail()  # SMTP settings from MAIL_* (survey.config); survey.services.mailing sends
# storage from RATELIMIT_STORAGE_URI (memory:// by default, REDIS_URL when set); the limits themselves are
# config values (LOGIN_LIMIT_PER_ACCOUNT, ...) read per request by the views' decorators
limiter = Limiter(key_func=get_remote_address)
