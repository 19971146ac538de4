"""Home page widgets of the leads stage."""

from leads.selectors import overdue_lead_tasks


def overdue_follow_ups(request):
    user = request.user
    if not (user.is_sales_rep or user.is_manager):
        return None
    tasks = overdue_lead_tasks(user=user)
    return {"tasks": tasks} if tasks else None
