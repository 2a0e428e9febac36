# Apple's team id and key id on oauth_providers (the private key is the sealed client credential);
# user_oauth's sealed tokens as TEXT: a sealed token is ~1.4x the token plus 76 characters, so a
# varchar(255) refused any token over ~127 characters (Google's access tokens are ~200).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('federation', '0003_user_oauth_exact_match'),
    ]

    operations = [
        migrations.AddField(
            model_name='oauthprovider',
            name='key_id',
            field=models.CharField(blank=True, default='', max_length=32),
        ),
        migrations.AddField(
            model_name='oauthprovider',
            name='team_id',
            field=models.CharField(blank=True, default='', max_length=32),
        ),
        migrations.AlterField(
            model_name='useroauth',
            name='access_token',
            field=models.TextField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='useroauth',
            name='refresh_token',
            field=models.TextField(blank=True, null=True),
        ),
    ]
