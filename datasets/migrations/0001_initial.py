"""Dataset versions move from the export app to this one: the tables (created by
``export.0001_initial``) stay as they are; only Django's idea of which app owns them changes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('annotate', '0001_initial'),
        ('jobs', '0001_initial'),
        ('export', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='DatasetVersion',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('number', models.PositiveIntegerField(help_text='1, 2, 3... per project')),
                        ('name', models.CharField(blank=True, max_length=200)),
                        ('status', models.CharField(choices=[('building', 'Building'), ('ready', 'Ready'), ('failed', 'Failed')], db_index=True, default='building', max_length=16)),
                        ('params', models.JSONField(blank=True, default=dict)),
                        ('labels', models.JSONField(blank=True, default=list, help_text='Frozen label classes, in category order')),
                        ('counts', models.JSONField(blank=True, default=dict, help_text='Images per split, objects per split and class')),
                        ('image_count', models.PositiveIntegerField(default=0)),
                        ('annotation_count', models.PositiveIntegerField(default=0)),
                        ('content_hash', models.CharField(blank=True, help_text='sha256 over labels, files, splits, annotations', max_length=64)),
                        ('materialized', models.JSONField(blank=True, default=dict)),
                        ('error', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('built_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('job', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='jobs.job')),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='versions', to='annotate.project')),
                    ],
                    options={
                        'ordering': ['project', '-number'],
                        'db_table': 'export_datasetversion',
                    },
                ),
                migrations.CreateModel(
                    name='VersionImage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('index', models.PositiveIntegerField(help_text='Position in the version, from 0')),
                        ('source_image_id', models.PositiveBigIntegerField(blank=True, help_text='The project image it came from', null=True)),
                        ('file', models.CharField(help_text='Path under MEDIA_ROOT, owned by the version', max_length=200)),
                        ('sha256', models.CharField(max_length=64)),
                        ('mime_type', models.CharField(max_length=50)),
                        ('file_name', models.CharField(help_text='Unique name (and stem) in the version, for exports', max_length=255)),
                        ('width', models.PositiveIntegerField()),
                        ('height', models.PositiveIntegerField()),
                        ('split', models.CharField(db_index=True, max_length=16)),
                        ('source', models.CharField(help_text='upload / import / synthetic / augmented', max_length=16)),
                        ('annotations', models.JSONField(default=list)),
                        ('object_offset', models.PositiveIntegerField(default=0, help_text='Objects (non-tag annotations) in the version before this image: global object ids')),
                        ('coco', models.TextField(blank=True, help_text="This image's COCO annotation entries, made once at build")),
                        ('yolo', models.TextField(blank=True, help_text="This image's YOLO label-file text, made once at build")),
                        ('meta', models.JSONField(blank=True, default=dict)),
                        ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='images', to='datasets.datasetversion')),
                    ],
                    options={
                        'ordering': ['version', 'index'],
                        'db_table': 'export_versionimage',
                    },
                ),
                migrations.AddConstraint(
                    model_name='datasetversion',
                    constraint=models.UniqueConstraint(fields=('project', 'number'), name='version_number_unique_in_project'),
                ),
                migrations.AddIndex(
                    model_name='versionimage',
                    index=models.Index(fields=['version', 'split', 'index'], name='export_vers_version_77da2f_idx'),
                ),
                migrations.AddConstraint(
                    model_name='versionimage',
                    constraint=models.UniqueConstraint(fields=('version', 'index'), name='version_image_index_unique'),
                ),
                migrations.AddConstraint(
                    model_name='versionimage',
                    constraint=models.UniqueConstraint(fields=('version', 'file_name'), name='version_image_name_unique'),
                ),
            ],
        ),
    ]
