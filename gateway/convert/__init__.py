"""Document conversion: from the format a client sent to one the queue's printer
takes (format sniffing, chains of conversions, converter processes with limits).

The dispatcher calls it between the spool and the backend; converted output is
spooled (fsync'ed) beside the original before it is sent.
"""
