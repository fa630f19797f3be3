"""What a person watching a terminal sees: the training and scoring progress bars, with
log lines printed above them (`progress`), and how log lines put what a stage counted
in words (`log_text`). Imports nothing of doclstm but `errors`.
"""
