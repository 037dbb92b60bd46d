# German date and time formats (FORMAT_MODULE_PATH): Django's German formats with a
# 24-hour clock everywhere and a short day-month for chart axes.
DATE_FORMAT = "j. F Y"
SHORT_DATE_FORMAT = "d.m.Y"
DATETIME_FORMAT = "j. F Y H:i"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "d.m."
