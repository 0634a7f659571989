no placeholders at all
