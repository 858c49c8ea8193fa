"""The one table from IPP operation to the handler that answers it.

Why: a reader sees here, whole, which operations the gateway answers and where
each one is implemented; the ASGI app dispatches on `HANDLERS` and
operations-supported is built from its keys. An operation that is not in the
table is answered server-error-operation-not-supported.

Handlers are grouped by the IPP object they work on: `printer` (the Printer and
its administration), `job` (creating, reading and changing jobs), `document`
(Send-Document and the Document object of PWG 5100.5), `subscription`
(RFC 3995 / RFC 3996) and `system` (the System Service of PWG 5100.22). Each
is ``async (IppService, IppRequest) -> IppResponse`` and raises
`OperationError` to answer with another status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.ipp.operations import Operation

from . import document, infra, job, printer, subscription, system
from .request import IppRequest, IppResponse, IppService

Handler = Callable[[IppService, IppRequest], Awaitable[IppResponse]]

HANDLERS: dict[Operation, Handler] = {
    # The Printer (RFC 8011 4.2, RFC 3380, RFC 3998, PWG 5100.13, CUPS)
    Operation.GET_PRINTER_ATTRIBUTES: printer.get_printer_attributes,
    Operation.GET_PRINTER_SUPPORTED_VALUES: printer.get_printer_supported_values,
    Operation.SET_PRINTER_ATTRIBUTES: printer.set_printer_attributes,
    Operation.IDENTIFY_PRINTER: printer.identify_printer,
    Operation.CUPS_GET_PRINTERS: printer.cups_get_printers,
    Operation.CUPS_GET_DEFAULT: printer.cups_get_printers,
    Operation.PAUSE_PRINTER: printer.printer_admin,
    Operation.PAUSE_PRINTER_AFTER_CURRENT_JOB: printer.printer_admin,
    Operation.RESUME_PRINTER: printer.printer_admin,
    Operation.ENABLE_PRINTER: printer.printer_admin,
    Operation.DISABLE_PRINTER: printer.printer_admin,
    Operation.HOLD_NEW_JOBS: printer.printer_admin,
    Operation.RELEASE_HELD_NEW_JOBS: printer.printer_admin,
    Operation.RESTART_PRINTER: printer.printer_admin,
    Operation.SHUTDOWN_PRINTER: printer.printer_admin,
    Operation.STARTUP_PRINTER: printer.printer_admin,
    Operation.PURGE_JOBS: printer.purge_jobs,
    # Jobs (RFC 8011 4.2-4.3, RFC 3380, RFC 3998, PWG 5100.11)
    Operation.PRINT_JOB: job.print_job,
    Operation.VALIDATE_JOB: job.validate_job,
    Operation.CREATE_JOB: job.create_job,
    Operation.CLOSE_JOB: job.close_job,
    Operation.GET_JOBS: job.get_jobs,
    Operation.GET_JOB_ATTRIBUTES: job.get_job_attributes,
    Operation.SET_JOB_ATTRIBUTES: job.set_job_attributes,
    Operation.HOLD_JOB: job.hold_job,
    Operation.RELEASE_JOB: job.release_job,
    Operation.CANCEL_JOB: job.cancel_job,
    Operation.CANCEL_MY_JOBS: job.cancel_jobs,
    Operation.CANCEL_JOBS: job.cancel_jobs,
    Operation.CANCEL_CURRENT_JOB: job.cancel_current_job,
    Operation.SUSPEND_CURRENT_JOB: job.suspend_current_job,
    Operation.RESTART_JOB: job.job_not_possible,
    Operation.REPROCESS_JOB: job.job_not_possible,
    Operation.RESUBMIT_JOB: job.job_not_possible,
    Operation.PROMOTE_JOB: job.job_not_possible,
    Operation.SCHEDULE_JOB_AFTER: job.job_not_possible,
    Operation.RESUME_JOB: job.job_not_possible,
    Operation.CUPS_MOVE_JOB: job.move_job,
    # Documents (RFC 8011 4.3.1, PWG 5100.5)
    Operation.SEND_DOCUMENT: document.send_document,
    Operation.GET_DOCUMENTS: document.get_documents,
    Operation.GET_DOCUMENT_ATTRIBUTES: document.get_document_attributes,
    Operation.SET_DOCUMENT_ATTRIBUTES: document.set_document_attributes,
    Operation.CANCEL_DOCUMENT: document.cancel_document,
    # Subscriptions and notifications (RFC 3995, RFC 3996)
    Operation.CREATE_PRINTER_SUBSCRIPTIONS: subscription.create_subscriptions,
    Operation.CREATE_JOB_SUBSCRIPTIONS: subscription.create_subscriptions,
    Operation.GET_SUBSCRIPTION_ATTRIBUTES: subscription.get_subscription_attributes,
    Operation.GET_SUBSCRIPTIONS: system.get_subscriptions,  # the System's, or subscription.py
    Operation.RENEW_SUBSCRIPTION: subscription.renew_subscription,
    Operation.CANCEL_SUBSCRIPTION: subscription.cancel_subscription,
    Operation.GET_NOTIFICATIONS: subscription.get_notifications,
    # The System Service (PWG 5100.22), at ipp://HOST:PORT/ipp/system
    Operation.GET_SYSTEM_ATTRIBUTES: system.get_system_attributes,
    Operation.GET_SYSTEM_SUPPORTED_VALUES: system.get_system_supported_values,
    Operation.SET_SYSTEM_ATTRIBUTES: system.set_system_attributes,
    Operation.GET_PRINTERS: system.get_printers,
    Operation.CREATE_PRINTER: system.create_printer,
    Operation.DELETE_PRINTER: system.delete_printer,
    Operation.CREATE_SYSTEM_SUBSCRIPTIONS: system.create_system_subscriptions,
    Operation.DISABLE_ALL_PRINTERS: system.all_printers,
    Operation.ENABLE_ALL_PRINTERS: system.all_printers,
    Operation.PAUSE_ALL_PRINTERS: system.all_printers,
    Operation.PAUSE_ALL_PRINTERS_AFTER_CURRENT_JOB: system.all_printers,
    Operation.RESUME_ALL_PRINTERS: system.all_printers,
    Operation.SHUTDOWN_ALL_PRINTERS: system.all_printers,
    Operation.STARTUP_ALL_PRINTERS: system.all_printers,
    Operation.SHUTDOWN_ONE_PRINTER: system.one_printer,
    Operation.STARTUP_ONE_PRINTER: system.one_printer,
    Operation.RESTART_ONE_PRINTER: system.one_printer,
    # The Infrastructure Printer's proxy operations (PWG 5100.18), and
    # Register-Output-Device on the System (PWG 5100.22)
    Operation.ACKNOWLEDGE_DOCUMENT: infra.acknowledge_document,
    Operation.ACKNOWLEDGE_IDENTIFY_PRINTER: infra.acknowledge_identify_printer,
    Operation.ACKNOWLEDGE_JOB: infra.acknowledge_job,
    Operation.FETCH_DOCUMENT: infra.fetch_document,
    Operation.FETCH_JOB: infra.fetch_job,
    Operation.GET_OUTPUT_DEVICE_ATTRIBUTES: infra.get_output_device_attributes,
    Operation.UPDATE_ACTIVE_JOBS: infra.update_active_jobs,
    Operation.DEREGISTER_OUTPUT_DEVICE: infra.deregister_output_device,
    Operation.UPDATE_DOCUMENT_STATUS: infra.update_document_status,
    Operation.UPDATE_JOB_STATUS: infra.update_job_status,
    Operation.UPDATE_OUTPUT_DEVICE_ATTRIBUTES: infra.update_output_device_attributes,
    Operation.REGISTER_OUTPUT_DEVICE: infra.register_output_device,
}

__all__ = ["HANDLERS", "Handler"]
