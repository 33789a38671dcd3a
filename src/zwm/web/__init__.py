"""The web application: server-rendered pages with htmx, behind sign-in and roles.

Layout
------
``roles``       the three roles (viewer < operator < admin) and ``@require_role``
``middleware``  sign-in required everywhere but /login/, /setup/ and the probe paths
``nav``         the navigation bar: one ``NavEntry`` per section
``users``       creating users, roles, disabling; never the last admin (CLI, Users page)
``forms``       the forms (input shape only: the rules live in the services they call)
``listing``     sorting and paging shared by every list page
``graph``       a workflow's task graph as cytoscape elements (Start node, linkage edges)
``taskcard``    what a task shows, for the task page and the workflow page's side panel
``server``      gunicorn in-process (``zwm web``)
``views/``      one module per section; ``urls.py`` routes them (namespace ``web``)
``templates/web/`` and ``static/web/`` (``vendor/`` holds browser libraries, see
``vendor.json`` and ``scripts/vendor_static.py``)

How another area adds its section (the Jobs dashboard is ``zwm.web.dashboard``)
------------------------------------------------------------------------------
1. A sub-package ``zwm/web/<section>/`` with ``urls.py`` (``app_name = "<section>"``, a
   landing view named ``index``), ``views.py``, and templates under
   ``templates/web/<section>/`` that ``{% extends "web/base.html" %}`` and fill
   ``{% block title %}``, ``{% block content %}`` (and ``head`` / ``scripts`` if needed).
2. Mount it in ``zwm/web/urls.py``: ``path("<prefix>/", include("zwm.web.<section>.urls"))``.
3. List it in ``nav.SECTIONS``: ``NavEntry("Label", "<section>:index", Role.VIEWER)``. The
   Jobs entry is already there, pointing at ``dashboard:index``; an entry whose URL does
   not resolve yet is simply not shown.
4. Decorate **every** view with ``@require_role(Role.VIEWER | OPERATOR | ADMIN)``: sign-in
   is enforced by the middleware, the role by the decorator (users below it get 403, and
   ``tests/web/test_permissions.py`` fails for a view under ``web`` without one). Actions
   that change something are POST-only (``@require_POST``) and need ``Role.OPERATOR``;
   htmx sends the CSRF token from ``<body hx-headers>``. Hide buttons the user cannot use
   with ``can_operate`` / ``is_admin`` from the context, but never rely on hiding.
5. Render everything from Zuora or a user through the template engine (autoescaped);
   never ``|safe`` or ``mark_safe`` on such data.
"""
