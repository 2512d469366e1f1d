// The worker's task list and crontab, assembled from the task modules of each area.
import type { TaskDefinition, CronDefinition } from './task.ts'
import * as maintenance from './maintenance.ts'
import * as stock from './stock.ts'
import * as members from './members.ts'
import * as webhooksInbound from './webhooks-inbound.ts'
import * as webhooksOutbound from './webhooks-outbound.ts'
import * as reconciliation from './reconciliation.ts'
import * as stockSync from './stock-sync.ts'
import * as vouchers from './vouchers.ts'
import * as campaignJobs from './campaigns.ts'
import * as deviceJobs from './devices.ts'

const modules: { tasks: TaskDefinition<any>[]; cron?: CronDefinition[] }[] = [maintenance, stock, members, webhooksInbound, webhooksOutbound, reconciliation, stockSync, vouchers, campaignJobs, deviceJobs]

export const allTasks: TaskDefinition<any>[] = modules.flatMap((m) => m.tasks)
export const allCron: CronDefinition[] = modules.flatMap((m) => m.cron ?? [])
