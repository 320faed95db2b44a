"""Pages for people on the API's app: the procedure catalogue, the desk's QR poster and the
citizen's portal (filing, receipt, tracking and the applicant's acts). See `web.pages`."""
