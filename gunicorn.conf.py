"""gunicorn settings, read by `scripts/start` and by `gunicorn wsgi:app` run from
this folder: the access log on standard output, with the path only (no query
string, which may carry case references, labels and usernames)."""

from clinic.core.access_log import ACCESS_LOG_FORMAT, PathOnlyLogger

accesslog = "-"
access_log_format = ACCESS_LOG_FORMAT
logger_class = PathOnlyLogger
