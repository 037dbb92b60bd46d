def notifications(request):
    """The bell's unread count, on every full page of a signed-in user.

    htmx partials (queue rows, the bell's own refresh) skip it: they do not
    render the bell from the base layout, so the count would be a wasted query.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(request, "htmx", False):
        return {}
    return {"unread_notifications": user.notifications.unread().count()}
