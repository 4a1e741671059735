"""Settings shared by every environment.

Everything is read from the environment (or an optional ``.env`` file at the project root) and
has a safe local default, so ``make run`` works on a fresh machine with nothing configured:
SQLite in WAL mode and Celery's filesystem broker, both under ``DATA_DIR``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="insecure-local-development-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATA_DIR = Path(env("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(DATA_DIR / "media"))).resolve()
MEDIA_URL = "/media/"  # never served directly: files go through permission-checked views
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files (no CDN)
    "jobs",
    "annotate",
    "datasets",
    "augment",
    "synth",
    "export",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(url: str | None) -> dict:
    """SQLite in WAL mode by default; anything ``DATABASE_URL`` names otherwise.

    WAL lets the web server read while the worker writes; ``IMMEDIATE`` transactions take the
    write lock up front so two writers queue on the busy timeout instead of failing with
    "database is locked" when a read transaction tries to upgrade.
    """
    if url:
        db = environ.Env.db_url_config(url)
    else:
        db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "lensforge.sqlite3")}
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("OPTIONS", {}).update(
            {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            }
        )
    else:
        db.setdefault("CONN_MAX_AGE", 60)
    return db


DATABASES = {"default": _database(env("DATABASE_URL", default=None))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- uploads -------------------------------------------------------------------------------
# One uploaded image may not exceed this many bytes, nor decode to more than this many pixels
# (a decompression bomb is a small file that decodes to gigabytes).
IMAGE_MAX_BYTES = env.int("IMAGE_MAX_BYTES", default=50 * 1024 * 1024)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=64_000_000)
# Zip uploads/imports: the archive itself, and the sum of its members once uncompressed.
ZIP_MAX_BYTES = env.int("ZIP_MAX_BYTES", default=2 * 1024**3)
ZIP_MAX_UNCOMPRESSED_BYTES = env.int("ZIP_MAX_UNCOMPRESSED_BYTES", default=8 * 1024**3)
ZIP_MAX_MEMBERS = env.int("ZIP_MAX_MEMBERS", default=200_000)
# A dataset's annotation files (COCO json, VOC xml, YOLO txt) are each read whole, so each has a cap
# too; larger than an image's, as a big COCO split's json runs to hundreds of megabytes.
IMPORT_ANNOTATION_MAX_BYTES = env.int("IMPORT_ANNOTATION_MAX_BYTES", default=1024**3)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024  # JSON bodies (e.g. many annotations)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=1000)
FILE_UPLOAD_TEMP_DIR = None

# Two images whose 64-bit perceptual hashes differ in at most this many bits are
# near-duplicates; the project health report flags such pairs that sit in different splits.
SPLIT_LEAK_MAX_DISTANCE = env.int("SPLIT_LEAK_MAX_DISTANCE", default=6)

# --- dataset versions and exports ----------------------------------------------------------
# Exports of versions with at least this many images are prepared by a job (202, then download);
# smaller ones stream at once. Finished exports are cached as zips under EXPORT_CACHE_DIR.
EXPORT_JOB_MIN_IMAGES = env.int("EXPORT_JOB_MIN_IMAGES", default=2000)
EXPORT_CACHE_DIR = Path(env("EXPORT_CACHE_DIR", default=str(DATA_DIR / "exports"))).resolve()
EXPORT_TFRECORD_SHARD_IMAGES = env.int("EXPORT_TFRECORD_SHARD_IMAGES", default=1000)

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults, with a JSON parser that answers 400 to bodies nested too deeply.
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    # Failed logins (API token and login page), per username tried and per client address;
    # successful logins are not counted (config/login.py).
    "DEFAULT_THROTTLE_RATES": {"login_username": "10/minute", "login_address": "30/minute"},
}
# Throttles count in the cache: local memory is per process, so with several web processes set
# CACHE_URL to a shared cache (e.g. redis://host:6379/1) for the rates to hold across them.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
SPECTACULAR_SETTINGS = {
    "TITLE": "Lensforge API",
    "DESCRIPTION": "Projects, images, annotations, splits and background jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs pages load their JS/CSS from drf_spectacular_sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No "valid" badge fetched from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Several models have a `status`, `kind`, `source` or `split` of their own: one name per set.
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "annotate.models.Role",
        "SplitEnum": "annotate.models.Split",
        "AssignedSplitEnum": "annotate.split_names.SPLITS",
        "ImageSourceEnum": "annotate.models.Image.Source",
        "ImageStatusEnum": "annotate.models.Image.Status",
        "AnnotationKindEnum": "annotate.models.Annotation.Kind",
        "AnnotationSourceEnum": "annotate.models.Annotation.Source",
        "JobStatusEnum": "jobs.models.Job.Status",
        "VersionStatusEnum": "datasets.models.DatasetVersion.Status",
        "AssetKindEnum": "synth.models.Asset.Kind",
        "TrainingTaskEnum": "training.models.TrainingRun.Task",
        "TrainingScheduleEnum": "training.models.TrainingRun.Schedule",
        "ArtifactFormatEnum": "training.models.ModelArtifact.Format",
        "ArtifactVariantEnum": "training.models.ModelArtifact.Variant",
        "ArtifactStatusEnum": "training.models.ModelArtifact.Status",
    },
}

# --- background work -----------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = DATA_DIR / "celery" / "queue"
    _processed_dir = DATA_DIR / "celery" / "processed"
    _control_dir = DATA_DIR / "celery" / "control"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
    # kombu's filesystem transport expects its folders to exist.
    for _folder in (_queue_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# No name-based routes: every job task carries its queue (default / render / train), declared
# with it in jobs.registry.job_task.
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {"task": "jobs.sweep_stale", "schedule": 60.0},
    # Uploaded archives no job will read (cancelled before it started, a request that died).
    "sweep-spooled-archives": {"task": "annotate.sweep_spooled_archives", "schedule": 3600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celery" / "beat-schedule")
# A running job touches its heartbeat this often; one silent for JOB_STALE_AFTER seconds is
# considered dead (its worker was killed) and is marked failed by the sweep.
JOB_HEARTBEAT_SECONDS = env.int("JOB_HEARTBEAT_SECONDS", default=15)
JOB_STALE_AFTER = env.int("JOB_STALE_AFTER", default=120)
# A stale job of a resumable kind (training) is sent again by the sweep, resuming where it stopped,
# until it has been started this many times; then it is marked failed.
JOB_RESUME_MAX_ATTEMPTS = env.int("JOB_RESUME_MAX_ATTEMPTS", default=3)

# Worker processes one offline augmentation (version build, corruption suite) fans out to.
AUGMENT_PROCESSES = env.int("AUGMENT_PROCESSES", default=2)

# Synthetic data: where Blender renders (auto picks a GPU when Cycles finds one), whether uploaded
# 3D models are test-imported in a short Blender process (and for how long), and their size cap.
SYNTH_RENDER_DEVICE = env("SYNTH_RENDER_DEVICE", default="auto")
SYNTH_PROBE_MODELS = env.bool("SYNTH_PROBE_MODELS", default=True)
SYNTH_PROBE_TIMEOUT = env.int("SYNTH_PROBE_TIMEOUT", default=120)
SYNTH_ASSET_MAX_BYTES = env.int("SYNTH_ASSET_MAX_BYTES", default=200 * 1024 * 1024)

# Training: each run trains in a process of its own (`python -m training.worker <run folder>`, a
# shell-like command line to replace it), its files under TRAINING_DIR/<run id>/. TensorFlow's
# intra- and inter-op thread pools get TRAINING_THREADS threads, so a run leaves the web server
# room. Initial weights files (.keras/.h5) given through the API or the admin must lie under one of
# TRAINING_WEIGHTS_DIRS (`manage.py train` takes any path: its user has the shell already).
TRAINING_DIR = Path(env("TRAINING_DIR", default=str(DATA_DIR / "training"))).resolve()
TRAINING_WORKER_COMMAND = shlex.split(env("TRAINING_WORKER_COMMAND", default="")) or [
    sys.executable, "-m", "training.worker",
]
TRAINING_THREADS = env.int("TRAINING_THREADS", default=2)
TRAINING_WEIGHTS_DIRS = [
    Path(p).resolve() for p in env.list("TRAINING_WEIGHTS_DIRS", default=[str(DATA_DIR / "weights")])
]
# Passed to the training process as RunSpec.export (e.g. {"latency_runs": 50, "calibration_images": 100}).
TRAINING_EXPORT = env.json("TRAINING_EXPORT", default={})

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
