"""URLs of the REST API, mounted at /api/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views_control as control
from . import views_export as export
from . import views_insight as insight
from . import views_runner as runner
from . import views_sharing as sharing
from . import views_sweeps as sweeps
from . import views_trials as trials
from . import views_webhooks as hooks

app_name = "api"

urlpatterns = [
    path("sweeps/", sweeps.SweepList.as_view(), name="sweep-list"),
    path("sweeps/<int:pk>/", sweeps.SweepDetail.as_view(), name="sweep-detail"),
    path("sweeps/<int:pk>/stop/", sweeps.SweepStop.as_view(), name="sweep-stop"),
    path("sweeps/<int:pk>/pause/", control.SweepPause.as_view(), name="sweep-pause"),
    path("sweeps/<int:pk>/resume/", control.SweepResume.as_view(), name="sweep-resume"),
    path("sweeps/<int:pk>/retry/", control.SweepRetry.as_view(), name="sweep-retry"),
    path(
        "sweeps/<int:pk>/concurrency/",
        control.SweepConcurrency.as_view(),
        name="sweep-concurrency",
    ),
    path("sweeps/<int:pk>/clone/", sweeps.SweepClone.as_view(), name="sweep-clone"),
    path("sweeps/<int:pk>/plan/", sweeps.SweepPlan.as_view(), name="sweep-plan"),
    path("sweeps/<int:pk>/events/", sweeps.SweepEvents.as_view(), name="sweep-events"),
    path("sweeps/<int:pk>/importance/", insight.SweepImportance.as_view(), name="sweep-importance"),
    path("sweeps/<int:pk>/share-links/", sharing.ShareLinks.as_view(), name="share-links"),
    path("sweeps/<int:pk>/export/", export.SweepExport.as_view(), name="sweep-export"),
    path("share-links/<int:pk>/revoke/", sharing.ShareLinkRevoke.as_view(), name="share-revoke"),
    path("compare/trials/", insight.CompareTrials.as_view(), name="compare-trials"),
    path("compare/sweeps/", insight.CompareSweeps.as_view(), name="compare-sweeps"),
    path("plan/", sweeps.PlanPreview.as_view(), name="plan-preview"),
    path("trials/", trials.TrialList.as_view(), name="trial-list"),
    path("trials/<int:pk>/", trials.TrialDetail.as_view(), name="trial-detail"),
    path("trials/<int:pk>/kill/", trials.TrialKill.as_view(), name="trial-kill"),
    path("trials/<int:pk>/retry/", control.TrialRetry.as_view(), name="trial-retry"),
    path("trials/<int:pk>/metrics/", trials.TrialMetrics.as_view(), name="trial-metrics"),
    path("runner/trials/<int:pk>/start/", runner.RunnerStart.as_view(), name="runner-start"),
    path("runner/trials/<int:pk>/heartbeat/", runner.RunnerHeartbeat.as_view(), name="runner-beat"),
    path(
        "runner/trials/<int:pk>/rejected/", runner.RunnerRejected.as_view(), name="runner-rejected"
    ),
    path("runner/trials/<int:pk>/finish/", runner.RunnerFinish.as_view(), name="runner-finish"),
    path("teams/<int:pk>/webhooks/", hooks.TeamWebhooks.as_view(), name="team-webhooks"),
    path("webhooks/<int:pk>/", hooks.WebhookDetail.as_view(), name="webhook-detail"),
    path("webhooks/<int:pk>/test/", hooks.WebhookTest.as_view(), name="webhook-test"),
    path("webhooks/<int:pk>/deliveries/", hooks.WebhookDeliveries.as_view(), name="deliveries"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
