from functools import cache


def notifications(request):
    """The bell's unread count, on every full page of a signed-in user.

    Counted when a template reads it (the template engine calls a callable), once:
    htmx partials (queue rows, the bell's own refresh) do not render the bell, and a
    full page asked for by htmx does.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": cache(lambda: user.notifications.unread().count())}
