"""The ARQ adapter: worker settings, jobs and cron."""
