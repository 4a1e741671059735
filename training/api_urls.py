from django.urls import path

from . import api

urlpatterns = [
    path("projects/<int:project_id>/training-runs/", api.TrainingRunListApi.as_view(), name="training-run-list"),
    path("training-runs/<int:run_id>/", api.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("training-runs/<int:run_id>/artifacts/", api.TrainingRunArtifactsApi.as_view(), name="training-run-artifacts"),
    path("training-runs/<int:run_id>/plots/<str:plot>", api.TrainingRunPlotApi.as_view(), name="training-run-plot"),
    path("training-runs/<int:run_id>/robustness", api.TrainingRunRobustnessApi.as_view(), name="training-run-robustness"),
    path("training-runs/<int:run_id>/robustness/<int:report_id>/plot", api.RobustnessPlotApi.as_view(),
         name="training-run-robustness-plot"),
    path("artifacts/<int:artifact_id>/download", api.ArtifactDownloadApi.as_view(), name="artifact-download"),
]
