"""Dataset versions now belong to the datasets app (same tables); exports point there."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('export', '0001_initial'),
        ('datasets', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='export',
                    name='version',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exports', to='datasets.datasetversion'),
                ),
                migrations.DeleteModel(name='VersionImage'),
                migrations.DeleteModel(name='DatasetVersion'),
            ],
        ),
    ]
