"""The reviewer web UI: server-rendered pages (Jinja2) with a little vanilla JavaScript.

Mounted under ``/review`` by the API. Routes parse, call one review service, and render; every
rule lives in the services and the domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from faceverdict import errors
from faceverdict.domain.review import (
    AttackType,
    InvalidVerdict,
    Priority,
    TaskReason,
    TaskStatus,
    Tier,
    Verdict,
    VerdictLabel,
)
from faceverdict.entrypoints.web import wording
from faceverdict.entrypoints.web.security import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Posted,
    SecurityHeaders,
    SignInRequired,
    check_csrf,
    login_token_ok,
    new_login_token,
    safe_next,
)
from faceverdict.ports.review import QueueFilter
from faceverdict.services.review.accounts import ActiveSession
from faceverdict.services.review.errors import Forbidden, LeaseLost, SignInFailed, TaskUnavailable
from faceverdict.wiring.review import Review

HERE = Path(__file__).parent
NOTICES = {
    "taken": "Another reviewer took that task first.",
    "none": "No task is waiting for you right now.",
    "released": "The task is back in the queue.",
    "lost": "Your claim lapsed and someone else took the task.",
    "done": "That task has already been reviewed.",
}
VIEWS = {
    "open": frozenset({TaskStatus.OPEN}),
    "active": frozenset({TaskStatus.OPEN, TaskStatus.CLAIMED}),
    "mine": frozenset({TaskStatus.CLAIMED}),
    "done": frozenset({TaskStatus.DONE}),
}
_STATUS = {
    errors.NotFound: 404,
    Forbidden: 403,
    TaskUnavailable: 409,
    LeaseLost: 409,
    errors.InvalidRequest: 422,
    SignInFailed: 401,
    errors.Unavailable: 503,
}


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


E = TypeVar("E", Priority, TaskReason, Tier)


def _enum_or_none(kind: type[E], value: str | None) -> E | None:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def _review(request: Request) -> Review:
    review: Review = request.app.state.review
    return review


def current(request: Request) -> ActiveSession:
    """The signed-in reviewer, or a redirect to the sign-in page."""
    session = _review(request).accounts.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired(request.url.path)
    return session


async def posted(request: Request) -> Posted:
    """A state-changing request from a signed-in reviewer, its CSRF token checked."""
    session = await run_in_threadpool(current, request)
    form = await request.form()
    check_csrf(request, session, form)
    return Posted(session=session, form=form)


Viewer = Annotated[ActiveSession, Depends(current)]
Post = Annotated[Posted, Depends(posted)]


def create_review_app(review: Review) -> FastAPI:
    """The reviewer UI over wired review services (mount it at ``/review``)."""
    app = FastAPI(title="faceverdict review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.review = review
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters.update(
        reason=wording.reason,
        duration=wording.duration,
        time_left=wording.time_left,
        percent=wording.percent,
    )
    templates.env.globals.update(
        TASK_REASONS=wording.TASK_REASONS,
        ATTACK_TYPES=wording.ATTACK_TYPES,
        SIGNALS=wording.SIGNALS,
    )
    secure = review.settings.secure_cookies

    def render(
        request: Request,
        name: str,
        session: ActiveSession | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        context.update(
            base=_base(request),
            me=session.account if session else None,
            csrf=session.csrf_token if session else "",
            csrf_field=CSRF_FIELD,
            now=review.service.clock.now(),
        )
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def redirect(request: Request, path: str) -> RedirectResponse:
        return RedirectResponse(_base(request) + path, status_code=303)

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": "sign in again"}, status_code=401)
        target = f"{_base(request)}/login?next={exc.next_path}"
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(errors.FaceverdictError)
    async def refused(request: Request, exc: errors.FaceverdictError) -> Response:
        status = next((s for k, s in _STATUS.items() if isinstance(exc, k)), 400)
        if _wants_json(request):
            return JSONResponse({"error": exc.detail, "type": exc.slug}, status_code=status)
        session = await run_in_threadpool(
            review.accounts.session, request.cookies.get(SESSION_COOKIE)
        )
        return render(request, "error.html", session, status, message=exc.detail)

    # sign-in

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str | None = None) -> Response:
        """The sign-in form."""
        if review.accounts.session(request.cookies.get(SESSION_COOKIE)) is not None:
            return redirect(request, "/")
        token = new_login_token()
        page = render(request, "login.html", None, next=next or "", login_token=token)
        _cookie(page, request, LOGIN_COOKIE, token, secure, max_age=1800)
        return page

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        """Check the password and open a session."""
        form = await request.form()
        field = form.get(CSRF_FIELD)
        if not login_token_ok(
            request.cookies.get(LOGIN_COOKIE), field if isinstance(field, str) else None
        ):
            raise Forbidden("the sign-in form expired; reload the page")
        username, password, nxt = (
            str(form.get("username") or ""),
            str(form.get("password") or ""),
            str(form.get("next") or ""),
        )
        try:
            signed = await run_in_threadpool(review.accounts.sign_in, username, password)
        except SignInFailed as exc:
            token = new_login_token()
            page = render(
                request,
                "login.html",
                None,
                401,
                next=nxt,
                login_token=token,
                error=exc.detail,
                username=username,
            )
            _cookie(page, request, LOGIN_COOKIE, token, secure, max_age=1800)
            return page
        response = RedirectResponse(safe_next(nxt, _base(request)), status_code=303)
        _cookie(response, request, SESSION_COOKIE, signed.token, secure)
        response.delete_cookie(LOGIN_COOKIE, path=_cookie_path(request))
        return response

    @app.post("/logout")
    def logout(request: Request, post: Post) -> Response:
        """End the session."""
        review.accounts.sign_out(request.cookies.get(SESSION_COOKIE))
        response = redirect(request, "/login")
        response.delete_cookie(SESSION_COOKIE, path=_cookie_path(request))
        return response

    # queue

    @app.get("/", response_class=HTMLResponse)
    def queue(
        request: Request,
        session: Viewer,
        view: str = "active",
        flow: str | None = None,
        priority: str | None = None,
        reason: str | None = None,
        tier: str | None = None,
        notice: str | None = None,
    ) -> HTMLResponse:
        """The review queue, most urgent first."""
        me = session.account
        view = view if view in VIEWS else "active"
        chosen_tier = _enum_or_none(Tier, tier)
        tasks = review.service.queue(
            me,
            QueueFilter(
                statuses=VIEWS[view],
                tiers=frozenset({chosen_tier}) if chosen_tier else frozenset(Tier),
                flow=flow or None,
                priority=_enum_or_none(Priority, priority),
                reason=_enum_or_none(TaskReason, reason),
                holder=me.reviewer_id if view == "mine" else None,
            ),
        )
        names = {a.reviewer_id: a.display_name for a in review.accounts.accounts()}
        backlog = review.reports.backlog()
        return render(
            request,
            "queue.html",
            session,
            tasks=tasks,
            names=names,
            view=view,
            views=list(VIEWS),
            flows=sorted(set(review.service.policy.flows) | {r.flow for r in backlog.rows}),
            priorities=list(Priority),
            reasons=list(TaskReason),
            tiers=sorted(me.role.tiers),
            filters={"flow": flow, "priority": priority, "reason": reason, "tier": tier},
            notice=NOTICES.get(notice or ""),
            backlog=backlog,
        )

    @app.post("/next")
    def claim_next(request: Request, post: Post) -> Response:
        """Claim the most urgent task the reviewer may take."""
        task = review.service.claim_next(post.session.account)
        if task is None:
            return redirect(request, "/?notice=none")
        return redirect(request, f"/tasks/{task.task_id}")

    @app.post("/tasks/{task_id}/claim")
    def claim(request: Request, task_id: str, post: Post) -> Response:
        """Claim one task and open it."""
        try:
            review.service.claim(task_id, post.session.account)
        except TaskUnavailable:
            return redirect(request, "/?notice=taken")
        return redirect(request, f"/tasks/{task_id}")

    # case

    @app.get("/tasks/{task_id}", response_class=HTMLResponse)
    def case(request: Request, task_id: str, session: Viewer, view: str = "") -> Response:
        """The case page of a task."""
        task = review.service.task(task_id)
        if task.status is TaskStatus.DONE and task.completed_by == session.account.reviewer_id:
            return redirect(request, f"/tasks/{task_id}/result")
        return _case_page(request, task_id, session, view == "original")

    def _case_page(
        request: Request,
        task_id: str,
        session: ActiveSession,
        show_original: bool,
        error: str | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        case = review.cases.case(task_id, session.account)
        return render(
            request,
            "case.html",
            session,
            status_code,
            case=case,
            original=show_original and case.revealed,
            labels=list(VerdictLabel),
            attack_types=list(AttackType),
            error=error,
            lease_seconds=int(review.settings.lease.total_seconds()),
        )

    @app.get("/tasks/{task_id}/capture.jpg")
    def capture(task_id: str, session: Viewer, view: str = "redacted") -> Response:
        """The capture: redacted, or original after a logged reveal."""
        data = review.cases.capture(task_id, session.account, original=view == "original")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/tasks/{task_id}/heatmaps/{detector}.png")
    def heatmap(task_id: str, detector: str, session: Viewer) -> Response:
        """A detector's heatmap as a transparent overlay."""
        data = review.cases.heatmap(task_id, session.account, detector)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.post("/tasks/{task_id}/reveal")
    def reveal(request: Request, task_id: str, post: Post) -> Response:
        """Reveal the background (logged)."""
        review.cases.reveal(task_id, post.session.account, post.field("reason"))
        if _wants_json(request):
            src = f"{_base(request)}/tasks/{task_id}/capture.jpg?view=original"
            return JSONResponse({"src": src, "revealed": True})
        return redirect(request, f"/tasks/{task_id}?view=original")

    @app.post("/tasks/{task_id}/redact")
    def redact(request: Request, task_id: str, post: Post) -> Response:
        """Redact the background again (logged)."""
        review.cases.redact(task_id, post.session.account)
        if _wants_json(request):
            src = f"{_base(request)}/tasks/{task_id}/capture.jpg?view=redacted"
            return JSONResponse({"src": src, "revealed": False})
        return redirect(request, f"/tasks/{task_id}")

    @app.post("/tasks/{task_id}/renew")
    def renew(task_id: str, post: Post) -> JSONResponse:
        """Keep the lease while the case page is open."""
        lease = review.service.renew(task_id, post.session.account)
        return JSONResponse({"expires_at": lease.expires_at.isoformat()})

    @app.post("/tasks/{task_id}/release")
    def release(request: Request, task_id: str, post: Post) -> Response:
        """Put the task back in the queue."""
        review.service.release(task_id, post.session.account)
        return redirect(request, "/?notice=released")

    @app.post("/tasks/{task_id}/verdict", response_class=HTMLResponse)
    def verdict(request: Request, task_id: str, post: Post) -> Response:
        """Record a verdict."""
        try:
            label = VerdictLabel(post.field("label"))
            attack = post.field("attack_type")
            given = Verdict(
                label=label,
                attack_type=AttackType(attack) if attack and label is VerdictLabel.FAKE else None,
                note=post.field("note"),
            )
        except InvalidVerdict as exc:
            return _case_page(request, task_id, post.session, False, str(exc), 422)
        except ValueError:
            return _case_page(request, task_id, post.session, False, "choose a verdict", 422)
        try:
            review.service.submit_verdict(task_id, post.session.account, given)
        except LeaseLost:
            return redirect(request, "/?notice=lost")
        return redirect(request, f"/tasks/{task_id}/result")

    @app.get("/tasks/{task_id}/result", response_class=HTMLResponse)
    def result(request: Request, task_id: str, session: Viewer) -> Response:
        """What a verdict led to."""
        summary = review.service.summary(task_id)
        me = session.account
        if summary.task.completed_by != me.reviewer_id and not me.role.sees_reports:
            raise Forbidden("only the reviewer who gave the verdict sees this page")
        return render(request, "result.html", session, summary=summary)

    # reports

    @app.get("/reports", response_class=HTMLResponse)
    def reports(request: Request, session: Viewer) -> Response:
        """Backlog, SLA breaches and agreement rates (seniors and admins)."""
        if not session.account.role.sees_reports:
            raise Forbidden("reports are for senior reviewers and admins")
        return render(
            request,
            "reports.html",
            session,
            backlog=review.reports.backlog(),
            agreement=review.reports.agreement(),
        )

    return app


def _cookie_path(request: Request) -> str:
    return _base(request) or "/"


def _cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    secure: bool,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=_cookie_path(request),
        httponly=True,
        samesite="strict",
        secure=secure,
    )
