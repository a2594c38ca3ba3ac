from lookups.cooldown import Cooldown


def test_resting_after_a_failure_until_recovered():
    cooldown = Cooldown(3600)
    assert not cooldown.resting()
    cooldown.failed()
    assert cooldown.resting()
    cooldown.recovered()
    assert not cooldown.resting()


def test_a_setting_is_read_at_each_failure(settings):
    settings.HISTORY_DB_RETRY_INTERVAL = 3600
    cooldown = Cooldown(lambda: settings.HISTORY_DB_RETRY_INTERVAL)
    cooldown.failed()
    assert cooldown.resting()
    settings.HISTORY_DB_RETRY_INTERVAL = 0  # "never leave it alone"
    cooldown.failed()
    assert not cooldown.resting()
    assert cooldown.seconds == 0
