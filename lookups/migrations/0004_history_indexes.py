# Indexes for browsing the history at volume (admin, history API, dashboard, purge_lookups).
# Built CONCURRENTLY (hence atomic = False) so that lookups keep writing history rows while a
# table of millions of rows is indexed; the old created_at index goes last, once its
# replacement (created_at, id) exists.

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import django.db.models.functions.text
import django.utils.timezone
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('lookups', '0003_apikey'),
    ]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently(
            model_name='lookup',
            index=models.Index(fields=['created_at', 'id'], name='lookup_time_idx'),
        ),
        AddIndexConcurrently(
            model_name='lookup',
            index=models.Index(fields=['time_zone_source', '-created_at'], name='lookup_tz_source_time_idx'),
        ),
        AddIndexConcurrently(
            model_name='lookup',
            index=models.Index(fields=['ip_address'], name='lookup_ip_address_idx'),
        ),
        AddIndexConcurrently(
            model_name='lookup',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper(django.db.models.functions.comparison.Cast('query', models.TextField())), name='gin_trgm_ops'), name='lookup_query_trgm_idx'),
        ),
        AddIndexConcurrently(
            model_name='lookup',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper(django.db.models.functions.comparison.Cast('city', models.TextField())), name='gin_trgm_ops'), name='lookup_city_trgm_idx'),
        ),
        migrations.AlterField(
            model_name='lookup',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
    ]
