# One covering index for login_history (accounts/models.py, LoginEvent.Meta).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_mfachallenge_totpdevice_backupcode_loginevent'),
    ]

    # The covering index first: on MySQL a foreign key must keep an index that starts with it.
    operations = [
        migrations.AddIndex(
            model_name='loginevent',
            index=models.Index(fields=['user', 'occurred_at', 'result', 'country', 'device_hash'],
                               name='login_user_recent'),
        ),
        migrations.RemoveIndex(
            model_name='loginevent',
            name='login_user_time',
        ),
        migrations.RemoveIndex(
            model_name='loginevent',
            name='login_user_device',
        ),
        migrations.AlterField(
            model_name='loginevent',
            name='user',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+',
                                    to=settings.AUTH_USER_MODEL),
        ),
    ]
