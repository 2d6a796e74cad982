export {
  logMailer,
  type Mailer,
  type MailMessage,
  messageIdFor,
  smtpMailer,
} from "./mailer.js";
export { createSendEmailJob, type SendEmailJob } from "./send-email.job.js";
export {
  type EmailTemplate,
  emailTemplates,
  renderEmail,
} from "./templates.js";
