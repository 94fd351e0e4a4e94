"""Pages, controls and the dashboard's own JSON endpoints (independent of the REST API)."""

from django.urls import path

from . import (
    views_account,
    views_assets,
    views_charts,
    views_compare,
    views_new,
    views_share,
    views_sweep,
    views_sweeps,
    views_teams,
    views_trials,
)

urlpatterns = [
    path("", views_sweeps.sweep_list, name="sweep-list"),
    path("sweeps/new/", views_new.new_sweep, name="sweep-new"),
    path("sweeps/<int:sweep_id>/", views_sweep.sweep_detail, name="sweep-detail"),
    path("sweeps/<int:sweep_id>/stop/", views_sweep.sweep_stop, name="sweep-stop"),
    path("sweeps/<int:sweep_id>/delete/", views_share.sweep_delete, name="sweep-delete"),
    path("sweeps/<int:sweep_id>/export/<str:fmt>/", views_share.sweep_export, name="sweep-export"),
    path("sweeps/<int:sweep_id>/share-links/", views_share.link_create, name="share-create"),
    path("share-links/<int:link_id>/revoke/", views_share.link_revoke, name="share-revoke"),
    path("compare/trials/", views_compare.compare_trials, name="compare-trials"),
    path("compare/sweeps/", views_compare.compare_sweeps, name="compare-sweeps"),
    path("account/", views_account.account, name="account"),
    path("account/tokens/<int:token_id>/revoke/", views_account.token_revoke, name="token-revoke"),
    path("teams/", views_teams.team_list, name="team-list"),
    path("teams/<int:team_id>/", views_teams.team_detail, name="team-detail"),
    path("teams/<int:team_id>/members/", views_teams.member_add, name="team-member-add"),
    path(
        "teams/<int:team_id>/members/<int:member_id>/role/",
        views_teams.member_role,
        name="team-member-role",
    ),
    path(
        "teams/<int:team_id>/members/<int:member_id>/remove/",
        views_teams.member_remove,
        name="team-member-remove",
    ),
    path("trials/<int:trial_id>/", views_trials.trial_detail, name="trial-detail"),
    path("trials/<int:trial_id>/kill/", views_trials.trial_kill, name="trial-kill"),
    path("ui/validate/", views_new.validate, name="ui-validate"),
    path("ui/sweeps/rows/", views_sweeps.sweep_rows, name="ui-sweep-rows"),
    path("ui/sweeps/<int:sweep_id>/state/", views_sweep.sweep_state, name="ui-state"),
    path("ui/sweeps/<int:sweep_id>/trials/", views_trials.trial_rows, name="ui-trials"),
    path("ui/sweeps/<int:sweep_id>/curves/", views_charts.curves, name="ui-curves"),
    path("ui/sweeps/<int:sweep_id>/parallel/", views_charts.parallel, name="ui-parallel"),
    path("ui/sweeps/<int:sweep_id>/best/", views_charts.best, name="ui-best"),
    path("ui/sweeps/<int:sweep_id>/importance/", views_charts.importance, name="ui-importance"),
    path("ui/trials/<int:trial_id>/output/", views_trials.trial_output, name="ui-trial-output"),
    path("ui/trials/<int:trial_id>/live/", views_trials.trial_live, name="ui-trial-live"),
    path("ui/trials/<int:trial_id>/metrics/", views_trials.trial_metrics, name="ui-trial-metrics"),
    path("vendor/plotly.min.js", views_assets.plotly_js, name="plotly-js"),
]
