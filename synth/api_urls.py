from django.urls import path

from . import api

urlpatterns = [
    path("projects/<int:project_id>/synth-assets/", api.AssetListApi.as_view(), name="synth-asset-list"),
    path("synth-assets/<int:asset_id>/", api.AssetDetailApi.as_view(), name="synth-asset-detail"),
    path("projects/<int:project_id>/synth-jobs/", api.SynthJobListApi.as_view(), name="synth-job-list"),
    path("synth-jobs/<int:synth_job_id>/", api.SynthJobDetailApi.as_view(), name="synth-job-detail"),
]
