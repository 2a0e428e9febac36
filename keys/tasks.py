from celery import shared_task


@shared_task(ignore_result=True, acks_late=True)
def prune() -> list[str]:
    """Unpublish keys whose last token has expired."""
    from audit.services import Actor

    from .services import keys_prune

    return keys_prune(actor=Actor.system("beat"))
