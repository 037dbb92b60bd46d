# English date and time formats (FORMAT_MODULE_PATH). Django's defaults mix
# "12/07/2026" (month first) with "2:06 p.m."; ours read unambiguously for the
# European readers of the English UI: "7 Dec 2026 14:06".
DATE_FORMAT = "j F Y"
SHORT_DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j F Y H:i"
SHORT_DATETIME_FORMAT = "j M Y H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "j M"
