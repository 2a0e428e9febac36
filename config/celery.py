import os

from celery import Celery
from celery.signals import before_task_publish, celeryd_init, setup_logging, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
app = Celery("custos")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

REQUEST_ID_HEADER = "custos_request_id"


@celeryd_init.connect  # early: the worker warns about its user before it sets up logging
@setup_logging.connect
def _json_logging(**kwargs):
    """The worker and beat log as the web does: Django's LOGGING (JSON lines on stderr, the
    request id, the task's name and id). A receiver here stops Celery from installing its own
    plain-text handlers on the root logger; prints, and what Celery writes straight to file
    descriptor 1 (its shutdown notices), become the same JSON lines. CUSTOS_LOG_LEVEL sets the level."""
    import logging.config

    from django.conf import settings

    from custos.logging import capture_std_streams

    logging.config.dictConfig(settings.LOGGING)
    capture_std_streams(fd=True)


@before_task_publish.connect
def _carry_request_id(headers=None, **kwargs):
    """The request that queued a task names it in the task's headers..."""
    from custos import context

    if headers is not None and context.current().request_id:
        headers[REQUEST_ID_HEADER] = context.current().request_id


@task_prerun.connect
def _adopt_request_id(task=None, **kwargs):
    """...and the worker logs under that id while it runs the task."""
    from custos import context

    rid = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    if rid and not context.current().request_id:
        task.request._custos_ctx = context.set_current(context.RequestContext(request_id=rid))


@task_postrun.connect
def _drop_request_id(task=None, **kwargs):
    from custos import context

    token = getattr(task.request, "_custos_ctx", None) if task is not None else None
    if token is not None:
        context.reset(token)
        task.request._custos_ctx = None
